from tapri_daemon.cli.main import main

main()
