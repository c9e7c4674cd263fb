"""Errors a user can fix. Each message names the problem and the fix, on one line."""


class CorpusQAError(Exception):
    """Base of the errors corpus-qa reports to users as one line."""


class InputError(CorpusQAError, ValueError):
    """A file, folder, question or option that cannot be used as given."""


class StoreError(CorpusQAError):
    """The index directory or the Chroma server cannot be used."""
