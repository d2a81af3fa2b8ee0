"""Honest fakes of the other side's protocols (Telegram Bot API, later WeChat)."""
