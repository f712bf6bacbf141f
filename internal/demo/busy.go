package demo

import "github.com/avhost/avhost/internal/timeline"

var errBusy = timeline.ErrBusy
