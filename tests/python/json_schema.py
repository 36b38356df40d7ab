"""A validator for the subset of JSON Schema that docs/gpumem.schema.json uses: type, const,
enum, minimum, required, properties, items, oneOf and local $ref. Objects are closed: a field
the schema does not name is an error, so the schema documents every field there is."""

TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is(value, name):
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, TYPES[name])


def errors(value, schema, root=None, path="$"):
    """The list of errors of `value` against `schema` (empty when it conforms)."""
    root = root or schema
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return errors(value, target, root, path)
    if "oneOf" in schema:
        results = [errors(value, option, root, path) for option in schema["oneOf"]]
        if sum(1 for r in results if not r) == 1:
            return []
        best = min(results, key=len)
        return best or ["%s: matches more than one of oneOf" % path]
    found = []
    if "const" in schema and value != schema["const"]:
        return ["%s: %r is not %r" % (path, value, schema["const"])]
    if "enum" in schema and value not in schema["enum"]:
        return ["%s: %r is not one of %r" % (path, value, schema["enum"])]
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(value, t) for t in types):
            return ["%s: %r is not of type %s" % (path, value, "/".join(types))]
    if "minimum" in schema and _is(value, "number") and value < schema["minimum"]:
        found.append("%s: %r is below %r" % (path, value, schema["minimum"]))
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                found.append("%s: lacks the field %r" % (path, key))
        for key, item in value.items():
            if key not in properties:
                found.append("%s: the field %r is not in the schema" % (path, key))
            else:
                found += errors(item, properties[key], root, "%s.%s" % (path, key))
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += errors(item, schema["items"], root, "%s[%d]" % (path, i))
    return found
