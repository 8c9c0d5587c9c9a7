"""Errors of the miner; messages say what was being fetched and never contain a token."""


class MineError(Exception):
    """A request or a response failed for good."""


class MalformedResponse(MineError):
    """The server answered with something that is not the JSON the endpoint promises."""


class NotFound(MineError):
    """404/410: the object does not exist (or is not visible to the token)."""
