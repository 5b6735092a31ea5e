"""What comes in: messages (validated at the door, recorded and queued), replays of dead letters,
and providers' delivery reports."""
