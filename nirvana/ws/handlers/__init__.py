"""What each client command does: typed command in, domain call, events queued out.

Every command is answered exactly once with an `ack` (or `resumed`/`resync_required`/`pong`)
or an `error` carrying its id; the endpoint maps exceptions with `nirvana/ws/errors.py`.
Which handler serves which command: `nirvana/ws/command_table.py`.
"""
