"""Contacts: friend requests, friendships, labels, blocks."""
