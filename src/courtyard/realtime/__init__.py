"""The WebSocket gateway and resumable sync (built with the chats issue)."""
