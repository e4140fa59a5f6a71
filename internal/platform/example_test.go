package platform_test

import (
	"fmt"

	"github.com/safeupdate/safeupdate/internal/platform"
)

func ExampleKnown() {
	fmt.Println(platform.Known("linux", "arm64"))
	fmt.Println(platform.Known("windows", "arm")) // not a Go 1.26 port
	// Output:
	// true
	// false
}
