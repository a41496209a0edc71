from transformer_check.cli import main

raise SystemExit(main())
