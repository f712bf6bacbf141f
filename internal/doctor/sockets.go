package doctor

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// TCP states as /proc/net/tcp writes them (include/net/tcp_states.h).
var tcpStates = map[string]string{
	"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
	"06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}

// SocketCounts counts TCP sockets by state on port: Local are sockets whose local
// port is port (the server side), Remote those whose remote port is (client side).
type SocketCounts struct {
	Local, Remote map[string]int
}

// CountSockets reads root/proc/net/tcp and tcp6 (root "" is the real /).
func CountSockets(root string, port int) (SocketCounts, error) {
	c := SocketCounts{Local: map[string]int{}, Remote: map[string]int{}}
	hexPort := strings.ToUpper(strconv.FormatInt(int64(port), 16))
	for len(hexPort) < 4 {
		hexPort = "0" + hexPort
	}
	found := false
	for _, f := range []string{"proc/net/tcp", "proc/net/tcp6"} {
		fh, err := os.Open(filepath.Join(root+"/", f))
		if err != nil {
			continue
		}
		found = true
		sc := bufio.NewScanner(fh)
		sc.Scan() // header
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 4 {
				continue
			}
			st := tcpStates[fs[3]]
			if strings.HasSuffix(fs[1], ":"+hexPort) {
				c.Local[st]++
			}
			if strings.HasSuffix(fs[2], ":"+hexPort) {
				c.Remote[st]++
			}
		}
		fh.Close()
	}
	if !found {
		return c, os.ErrNotExist
	}
	return c, nil
}
