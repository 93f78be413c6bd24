"""The command line explains itself: help for every subcommand and argument."""
def test_every_subcommand_and_argument_has_help_text():
    from analysis.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name, sub in subparsers.choices.items():
        assert sub.description or subparsers._choices_actions, name
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"{name} {action.dest} has no help text"
    assert all(choice.help for choice in subparsers._choices_actions)
