#!/usr/bin/env python3
"""Every function of the public API logs its calls at debug level (docs/api.md, "Logging"):
its definition in core/ goes through GPUMEM_LOGGED_CALL, GPUMEM_LOGGED_PLAIN_CALL or
GPUMEM_LOGGED_LEAVE, or has a quick path guarded by gpumem_call_may_be_quick() and its full call
in a helper logged under its name (GPUMEM_LOGGED_PLAIN_CALL_AS). The exceptions are listed with
their reason. A new public function that does not log fails this check. Usage:
check_call_log.py SOURCE_ROOT"""
import glob
import os
import re
import sys

# Pure functions, the logger itself, and helpers for backends (which report through the call
# that used the backend).
NOT_LOGGED = {
    "gpumem_result_string": "pure: a name for a value",
    "gpumem_last_error": "reads the message a logged call left",
    "gpumem_version": "pure",
    "gpumem_format_texel_size": "pure",
    "gpumem_log_set_callback": "sets the log itself",
    "gpumem_backend_error": "for backends, inside a logged call",
    "gpumem_backend_log": "for backends, inside a logged call",
}

root = sys.argv[1]
headers = [os.path.join(root, "include/gpumem/gpumem.h"), os.path.join(root, "include/gpumem/backend.h")]
public = set()
for header in headers:
    text = open(header).read()
    public |= set(re.findall(r"GPUMEM_API\s+[\w\s\*]+?\b(gpumem_\w+)\s*\(", text))

def without_comments(code):
    return re.sub(r"/\*.*?\*/", "", code, flags=re.S)

bodies = {}
# Public functions with a quick path: name -> the helpers that hold their full call, logged under
# their name (GPUMEM_LOGGED_PLAIN_CALL_AS("name", ...)).
logged_as = {}
for path in glob.glob(os.path.join(root, "core", "*.c")):
    text = open(path).read()
    for m in re.finditer(r"^[\w\s\*]+?\b(gpumem_\w+)\([^;{]*\)\s*\n\{\n(.*?)\n\}\n", text, re.M | re.S):
        bodies[m.group(1)] = m.group(2)
    for m in re.finditer(r'GPUMEM_LOGGED_PLAIN_CALL_AS\(\s*"(gpumem_\w+)"', text):
        # The helper is the function this use is in: its header ends at the last "\n{\n"
        # before the use, and starts after the function before it ("\n}\n").
        head_end = text.rfind("\n{\n", 0, m.start())
        header = text[text.rfind("\n}\n", 0, head_end) + 1:head_end]
        names = [n for n in re.findall(r"\b(\w+)\s*\(", without_comments(header))
                 if n != "__attribute__"]
        if names:
            logged_as.setdefault(m.group(1), set()).add(names[0])

problems = []
for name in sorted(public):
    if name in NOT_LOGGED:
        continue
    body = bodies.get(name)
    if body is None:
        problems.append("%s: no definition found in core/" % name)
    elif name in logged_as:
        # A quick path: it asks gpumem_call_may_be_quick(), and every return is a success or
        # the full call. (That the quick path is taken only when it says yes is tested at run
        # time: test_call_log.c's virtual_block_calls logs through a reader.)
        helpers = logged_as[name]
        returns = re.findall(r"\breturn\b\s*(.*?);", without_comments(body), re.S)
        wrong = [r for r in returns
                 if r != "GPUMEM_OK" and not any(re.match(r"%s\(" % h, r) for h in helpers)]
        if "gpumem_call_may_be_quick()" not in body:
            problems.append("%s: logs in a helper, but its quick path does not check "
                            "gpumem_call_may_be_quick()" % name)
        elif not returns or wrong:
            problems.append("%s: its quick path returns something other than GPUMEM_OK or its "
                            "logged full call (%s): %s" % (name, ", ".join(sorted(helpers)),
                                                           "; ".join(wrong) or "no return"))
    elif not re.search(r"GPUMEM_LOGGED_(CALL|PLAIN_CALL|LEAVE)\(", body):
        problems.append("%s: does not log its calls (GPUMEM_LOGGED_*)" % name)
for name in sorted(NOT_LOGGED):
    if name not in public:
        problems.append("%s: listed as not logged, but is not a public function" % name)
if problems:
    print("\n".join(problems))
    sys.exit(1)
print("%d public functions log their calls; %d are pure or helpers" % (len(public) - len(NOT_LOGGED), len(NOT_LOGGED)))
