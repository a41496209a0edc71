"""``python -m sfm``."""

from .cli import main

raise SystemExit(main())
