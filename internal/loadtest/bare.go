package loadtest

import (
	"net/http"

	"github.com/gorilla/websocket"
)

// Bare is the baseline the issue measures avhost against: a bare gorilla/websocket
// server that echoes one message and closes. It closes TCP first, as most servers do,
// so it ends up holding the TIME_WAIT sockets itself.
var Bare http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	kind, msg, err := ws.ReadMessage()
	if err != nil {
		return
	}
	ws.WriteMessage(kind, msg)
})
