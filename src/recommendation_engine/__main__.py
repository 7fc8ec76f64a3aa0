from recommendation_engine.cli import main

raise SystemExit(main())
