from quest.cli import main

raise SystemExit(main())
