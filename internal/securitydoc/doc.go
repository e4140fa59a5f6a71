// Package securitydoc holds no code: its test checks that every test named
// in the repository's SECURITY.md exists, so that the document cannot
// point a reviewer at a test that was renamed or removed.
package securitydoc
