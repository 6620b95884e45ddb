#!/usr/bin/env python3
"""Validates an OCI bundle config.json against the runtime-spec's own JSON schema.

usage: oci_schema_check.py SCHEMA_DIR CONFIG.json

SCHEMA_DIR holds config-schema.json and the files it $refs by relative name (defs.json,
config-linux.json, ...), e.g. Debian's golang-github-opencontainers-specs-dev installs them in
/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema. The resolver's base URI
is that folder, so the relative $refs resolve from disk, offline.

Prints "valid" (exit 0), or "invalid: <field>: <message>" for the most relevant error (exit 1),
the field written as lxbox's parser names it: process.args[0], mounts[0].destination, and for
a missing member the member itself (process.cwd), not the object that lacks it. Exit 2 on usage
or I/O errors.
"""

import json
import os
import re
import sys
import warnings

# RefResolver is deprecated from jsonschema 4.18 on, but Debian 12 ships 4.10, which has
# nothing else; the warning would only clutter the output the tests read.
warnings.filterwarnings("ignore", category=DeprecationWarning)

import jsonschema  # noqa: E402  (after the warning filter on purpose)
from jsonschema.exceptions import best_match  # noqa: E402

_REQUIRED = re.compile(r"^'(.+)' is a required property$")


def field_of(error):
    path = ""
    for part in error.absolute_path:
        if isinstance(part, int):
            path += "[%d]" % part
        else:
            path = part if not path else path + "." + part
    # A `required` error sits on the object lacking the member; the member is the field at fault.
    if error.validator == "required":
        match = _REQUIRED.match(error.message)
        if match:
            path = match.group(1) if not path else path + "." + match.group(1)
    return path or "(root)"


def main(argv):
    if len(argv) != 3:
        print("usage: oci_schema_check.py SCHEMA_DIR CONFIG.json", file=sys.stderr)
        return 2
    schema_dir = os.path.abspath(argv[1])
    try:
        with open(os.path.join(schema_dir, "config-schema.json"), encoding="utf-8") as f:
            schema = json.load(f)
        with open(argv[2], encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    resolver = jsonschema.RefResolver(base_uri="file://" + schema_dir + "/", referrer=schema)
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, resolver=resolver)
    try:
        error = best_match(validator.iter_errors(config))
    except jsonschema.exceptions.RefResolutionError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    if error is None:
        print("valid")
        return 0
    print("invalid: %s: %s" % (field_of(error), error.message))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
