"""Errors a user can fix. Each message names the problem and the fix, on one line."""


class CorpusQAError(Exception):
    """Base of the errors corpus-qa reports to users as one line.

    The message is always one line: control characters that a file name, a question or
    a server's reply brings into it (a file called "\\n.html") are shown escaped."""

    def __str__(self) -> str:
        return one_line(super().__str__())


class InputError(CorpusQAError, ValueError):
    """A file, folder, question or option that cannot be used as given."""


class StoreError(CorpusQAError):
    """The index directory or the Chroma server cannot be used."""


def one_line(text: str) -> str:
    """`text` with line breaks and other unprintable characters escaped as Python does ("\\n")."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
