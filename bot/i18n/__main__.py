"""`python -m bot.i18n`: the catalog tools (see bot/i18n/maintain.py)."""

import sys

from bot.i18n.maintain import main

sys.exit(main())
