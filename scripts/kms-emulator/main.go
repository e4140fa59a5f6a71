// Command kms-emulator serves local-kms (github.com/nsmithuk/local-kms, an
// AWS KMS emulator) on one address given in full, so that it listens on
// 127.0.0.1 only: local-kms's own main listens on every interface. The
// request handling is local-kms's, unchanged. For scripts/emulators.sh.
//
//	KMS_ADDR=127.0.0.1:4599 KMS_REGION=us-east-1 KMS_DATA_PATH=DIR kms-emulator
package main

import (
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/nsmithuk/local-kms/src"
	"github.com/nsmithuk/local-kms/src/config"
	"github.com/nsmithuk/local-kms/src/data"
)

func main() {
	addr, region, dir := os.Getenv("KMS_ADDR"), os.Getenv("KMS_REGION"), os.Getenv("KMS_DATA_PATH")
	if addr == "" || region == "" || dir == "" {
		log.Fatal("kms-emulator: set KMS_ADDR (host:port), KMS_REGION and KMS_DATA_PATH")
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		log.Fatalf("kms-emulator: KMS_ADDR: %v", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		log.Fatalf("kms-emulator: KMS_ADDR %s is not a loopback address", addr)
	}
	config.AWSRegion = region
	config.AWSAccountId = "111122223333"
	if v := os.Getenv("KMS_ACCOUNT_ID"); v != "" {
		config.AWSAccountId = v
	}
	if config.DatabasePath, err = filepath.Abs(dir); err != nil {
		log.Fatalf("kms-emulator: KMS_DATA_PATH: %v", err)
	}
	db := data.NewDatabase(config.DatabasePath)
	defer db.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatalf("kms-emulator: %v", err)
	}
	log.Printf("kms-emulator: local-kms on %s, region %s, data in %s", ln.Addr(), region, config.DatabasePath)
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { src.HandleRequest(w, r, db) }),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(srv.Serve(ln))
}
