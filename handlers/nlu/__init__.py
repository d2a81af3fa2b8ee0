"""Understanding residents: the intent model, certain rules, confidence and details."""

from handlers.nlu.details import Details, extract_details
from handlers.nlu.understand import Understanding, is_greeting, understand

__all__ = ["Details", "Understanding", "extract_details", "is_greeting", "understand"]
