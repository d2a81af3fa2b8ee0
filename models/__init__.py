"""The domain: SQLModel tables and one use-case function per thing a person can do."""
