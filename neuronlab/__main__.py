import sys

from neuronlab.cli.main import main

sys.exit(main())
