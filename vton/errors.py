"""The one error type user-facing entry points turn bad input into.

`InputError` carries a plain-language message meant for the person running the
tool (CLI prints it as ``error: ...`` and exits 2; the lab shows it with
``st.error``). Programming errors stay ordinary exceptions.
"""


class InputError(ValueError):
    """Bad input from a user: a file, an image, a checkpoint folder, a parameter."""
