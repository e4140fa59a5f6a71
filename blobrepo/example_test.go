package blobrepo_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/safeupdate/safeupdate/blobrepo"
)

// A publisher writes the payload first and release.json last, CreateOnly,
// so that a second publisher of the same release fails instead of
// overwriting it. The same code works on s3://, gs:// and azblob:// URLs.
func Example() {
	dir, err := os.MkdirTemp("", "repo")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := blobrepo.Open(ctx, "file:///"+strings.TrimPrefix(filepath.ToSlash(dir), "/"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	create := blobrepo.PutOptions{CreateOnly: true}
	if err := s.Put(ctx, "1.0.0/linux/amd64/app.bz2", strings.NewReader("BZh..."), create); err != nil {
		log.Fatal(err)
	}
	if err := s.Put(ctx, "1.0.0/linux/amd64/release.json", strings.NewReader("{}"), create); err != nil {
		log.Fatal(err)
	}
	err = s.Put(ctx, "1.0.0/linux/amd64/release.json", strings.NewReader("{}"), create)
	fmt.Println("second publish refused:", errors.Is(err, blobrepo.ErrExists))

	r, err := s.Get(ctx, "1.0.0/linux/amd64/app.bz2", 3, -1) // resume at byte 3
	if err != nil {
		log.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	r.Close()
	fmt.Printf("resumed read: %q\n", rest)

	_ = s.List(ctx, "1.0.0/", func(p string) error { fmt.Println(p); return nil })
	// Output:
	// second publish refused: true
	// resumed read: "..."
	// 1.0.0/linux/amd64/app.bz2
	// 1.0.0/linux/amd64/release.json
}
