from vton.cli import main

raise SystemExit(main())
