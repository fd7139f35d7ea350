import sys

from numlake.cli import main

sys.exit(main())
