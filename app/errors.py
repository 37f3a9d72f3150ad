"""Errors a person or a peer can cause. Each carries a message fit to show as is."""


class FedDeckError(Exception):
    """Base of every error FedDeck reports to a user instead of crashing."""


class InvalidInput(FedDeckError):
    """Something given (argument, config, file, message) is malformed or out of range."""


class NotFound(FedDeckError):
    """A named thing does not exist."""


class Conflict(FedDeckError):
    """The request clashes with what is stored (duplicate name, second group, ...)."""


class PermissionDenied(FedDeckError):
    """The acting user's role does not allow the operation."""


class AuthenticationFailed(FedDeckError):
    """Unknown user or wrong password/token."""
