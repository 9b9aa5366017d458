"""Chats: direct and group conversations, membership, messages."""
