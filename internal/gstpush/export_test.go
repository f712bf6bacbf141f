package gstpush

// NewPoolLinger is NewPool with another linger, so a test need not wait PoolLinger.
var NewPoolLinger = newPool
