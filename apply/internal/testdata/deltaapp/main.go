// Command deltaapp is the binary the delta tests update: a real Go
// executable whose versions differ as builds of one program do.
package main

import (
	"fmt"
	"os"
	"strings"
)

var version = "dev"

func main() {
	fmt.Println(strings.TrimSpace(version), len(os.Args))
}
