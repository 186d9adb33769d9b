from swarm_sentinel.cli import main

raise SystemExit(main())
