package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/avhost/avhost/internal/doctor"
)

func doctorCmd(args []string) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	ports := fs.String("ports", "8080,8554", "avhost's ports to count sockets on")
	apply := fs.Bool("apply", false, "write /etc/sysctl.d/90-avhost.conf and set the values now (root only)")
	root := fs.String("root", "", "read /proc (and write /etc) under this directory instead of / (tests)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ps []int
	for _, p := range strings.Split(*ports, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(p)); err == nil {
			ps = append(ps, n)
		}
	}
	r := doctor.Check(*root, ps)
	r.Print(os.Stdout)
	if *apply {
		if err := r.Apply(*root); err != nil {
			return err
		}
		fmt.Println("applied.")
	}
	return nil
}
