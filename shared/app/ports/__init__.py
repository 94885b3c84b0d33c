"""The ports the use cases depend on (typing.Protocol), per capability."""
