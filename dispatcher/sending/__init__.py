"""The send path: claim and admit a message, the provider exchange on the worker's event loop,
conclude and record; the delay-queue mover and the status callbacks out."""
