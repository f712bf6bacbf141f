package client

import "fmt"

func fmtFPS(s string, n, d *int) {
	if k, _ := fmt.Sscanf(s, "%d/%d", n, d); k == 1 || *d == 0 {
		*d = 1
	}
	if *n <= 0 {
		*n = 25
	}
}
