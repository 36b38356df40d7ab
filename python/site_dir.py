"""Prints the folder the gpumem package installs into, for meson: the interpreter's own
site-packages when PREFIX is where it installs by default (/usr/local on Debian), else
PREFIX/lib/pythonX.Y/site-packages."""
import sys
import sysconfig

prefix = sys.argv[1]
if sysconfig.get_path("data") == prefix:
    print(sysconfig.get_path("purelib"))
else:
    print(sysconfig.get_path("purelib", "posix_prefix", vars={"base": prefix, "platbase": prefix}))
