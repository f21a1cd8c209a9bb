"""The example content of `make run`: prints where it runs."""
import os
import platform
import sys

print(f"hello from {platform.python_implementation()} {platform.python_version()}")
print(f"interpreter: {sys.executable}")
print(f"virtual environment: {os.environ.get('VIRTUAL_ENV', '(none)')}")
