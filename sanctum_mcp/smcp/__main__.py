import sys

from sanctum_mcp.smcp.plugin import main

sys.exit(main())
