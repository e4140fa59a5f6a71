package apply

// syncDir does nothing on Windows, where directories cannot be fsynced;
// NTFS journals renames (MoveFileEx) itself.
func syncDir(dir string) error { return nil }
