"""Any path a filesystem allows as a Hydra override value: spaces, non-ASCII letters, brackets, commas, `=`, quotes,
backslashes and `${` survive Hydra's override grammar and OmegaConf's interpolation.

`dancenow extract extract.input="my vidéo (1).mp4"` works as typed: a bare value of a string key is quoted here.
The workflow quotes every path itself (`override`), so nothing depends on what a bare value may hold.
"""

import re
import typing

from .schema import schema_of

# Inside Hydra's single quotes a backslash is literal unless a run of them ends at a quote, at `${` or at the end:
# there each backslash of the run is doubled and the quote or `${` gets one more (`\${` is OmegaConf's literal `${`).
_SPECIAL = re.compile(r"(\\*)('|\$\{|$)")


def quote(value):
    """`value` as a Hydra quoted string that composes back to exactly `value`."""
    return "'" + _SPECIAL.sub(lambda m: m.group(1) * 2 + ("\\" + m.group(2) if m.group(2) else ""), value) + "'"


def override(key, value):
    """`key=value` for a path (str), a list of paths, or None (null), each path quoted."""
    if value is None:
        return f"{key}=null"
    if isinstance(value, (list, tuple)):
        return f"{key}=[" + ",".join(quote(str(v)) for v in value) + "]"
    return f"{key}={quote(str(value))}"


def bare_strings(override_text):
    """An override as given on the command line, with the bare value of a free string key (a path: no choices)
    quoted; `null` of an optional key, already quoted values and every other key stay as given."""
    key, sep, value = override_text.partition("=")
    found = sep and schema_of(key.lstrip("+~"))
    if not found or value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) > 1:
        return override_text
    tp, meta = found
    optional = typing.get_origin(tp) is typing.Union and type(None) in typing.get_args(tp)
    if optional:
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if tp is not str or "choices" in meta or optional and value == "null":
        return override_text
    return f"{key}={quote(value)}"
