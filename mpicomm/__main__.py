from mpicomm.cli import main

raise SystemExit(main())
