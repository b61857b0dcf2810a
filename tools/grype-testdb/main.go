// Command grype-testdb writes a small, real grype vulnerability database (schema v6) from advisory
// records kept in the project, for tests and offline demos; it is not a vulnerability feed.
//
//	grype-testdb ADVISORIES... OUT
//
// Each ADVISORIES folder holds one folder per provider (e.g. github/, debian/) of vunnel result envelopes
// ({"schema", "identifier", "item"}), the format grype's database builder reads from its providers.
// OUT receives:
//
//	OUT/dist/latest.json and OUT/dist/vulnerability-db_*.tar.gz  grype's distribution format (db.update-url)
//	OUT/cache/6/vulnerability.db                                 an installed database (db.cache-dir)
//
// and the command prints, as shell assignments, the environment that makes grype use OUT/cache offline.
// The database is built with grype's own public build API (grype/db.Build), at the grype version
// this module's go.mod pins, so the scanner and the database always share a schema.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/anchore/clio"
	grypedb "github.com/anchore/grype/grype/db"
	"github.com/anchore/grype/grype/db/provider"
	v6 "github.com/anchore/grype/grype/db/v6"
	v6build "github.com/anchore/grype/grype/db/v6/build"
	"github.com/anchore/grype/grype/db/v6/installation"
)

// processor names this tool in each provider's record of the database, with its advisory count;
// `grype db providers` shows it, which is how a scan knows it used the test database.
const processor = "modelship-grype-testdb"

// schemas names the vunnel record schema each provider's envelopes use; grype picks its
// processor (GitHub advisory or OS package) by this URL.
var schemas = map[string]string{
	"github": "https://raw.githubusercontent.com/anchore/vunnel/main/schema/vulnerability/github-security-advisory/schema-1.0.1.json",
	"debian": "https://raw.githubusercontent.com/anchore/vunnel/main/schema/vulnerability/os/schema-1.0.0.json",
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: grype-testdb ADVISORIES... OUT\n"+
			"  ADVISORIES: folders of one folder per provider (github/, debian/) of vunnel result envelopes\n"+
			"  OUT: where the database, its distribution files and its cache are written")
		os.Exit(2)
	}
	last := len(os.Args) - 1
	count, err := run(os.Args[1:last], os.Args[last])
	if err != nil {
		fmt.Fprintf(os.Stderr, "grype-testdb: %v\n", err)
		os.Exit(1)
	}
	out, _ := filepath.Abs(os.Args[last])
	cache := filepath.Join(out, "cache")
	fmt.Printf("GRYPE_DB_CACHE_DIR=%s\n", shellQuote(cache))
	fmt.Println("GRYPE_DB_AUTO_UPDATE=false")
	fmt.Println("GRYPE_DB_REQUIRE_UPDATE_CHECK=false")
	fmt.Println("GRYPE_CHECK_FOR_APP_UPDATE=false")
	fmt.Fprintf(os.Stderr, "grype-testdb: %d advisories in %s (a test database, not a vulnerability feed)\n", count, cache)
}

// run builds the database from the advisories and returns how many advisory records it holds.
func run(advisories []string, out string) (int, error) {
	for _, sub := range []string{"work", "build", "dist", "cache"} {
		if err := os.RemoveAll(filepath.Join(out, sub)); err != nil {
			return 0, err
		}
	}
	states, count, err := workspaces(advisories, filepath.Join(out, "work"))
	if err != nil {
		return 0, err
	}
	build := filepath.Join(out, "build")
	if err := grypedb.Build(grypedb.BuildConfig{
		SchemaVersion: v6.ModelVersion,
		Directory:     build,
		States:        states,
		Timestamp:     time.Now().UTC(),
		Hydrate:       true,
	}); err != nil {
		return 0, fmt.Errorf("building the database: %w", err)
	}
	if err := v6build.CreateArchive(build, "tar.gz", nil); err != nil {
		return 0, fmt.Errorf("packaging the database: %w", err)
	}
	archive, err := distribute(build, filepath.Join(out, "dist"))
	if err != nil {
		return 0, err
	}
	config := installation.DefaultConfig(clio.Identification{Name: "grype"})
	config.DBRootDir = filepath.Join(out, "cache")
	curator, err := installation.NewCurator(config, nil)
	if err != nil {
		return 0, err
	}
	if err := curator.Import(archive); err != nil {
		return 0, fmt.Errorf("installing the database into %s: %w", config.DBRootDir, err)
	}
	return count, os.RemoveAll(filepath.Join(out, "work"))
}

// workspaces lays each provider's records out as a vunnel provider workspace, the input grype's
// builder reads, and returns the provider states and the number of records.
func workspaces(advisories []string, work string) (provider.States, int, error) {
	byProvider := map[string][]string{}
	for _, folder := range advisories {
		entries, err := os.ReadDir(folder)
		if err != nil {
			return nil, 0, fmt.Errorf("reading the advisories folder: %w", err)
		}
		for _, entry := range entries {
			if !entry.IsDir() {
				continue
			}
			if _, known := schemas[entry.Name()]; !known {
				return nil, 0, fmt.Errorf("advisories folder %q: unknown provider %q (known: github, debian)", folder, entry.Name())
			}
			records, err := filepath.Glob(filepath.Join(folder, entry.Name(), "*.json"))
			if err != nil {
				return nil, 0, err
			}
			byProvider[entry.Name()] = append(byProvider[entry.Name()], records...)
		}
	}
	names := make([]string, 0, len(byProvider))
	for name := range byProvider {
		names = append(names, name)
	}
	sort.Strings(names)
	var states provider.States
	count := 0
	for _, name := range names {
		schema, records := schemas[name], byProvider[name]
		sort.Strings(records)
		writer := provider.NewWorkspaceWriter(work, name)
		var files []provider.File
		for _, record := range records {
			file, err := writer.CopyResultFrom(record)
			if err != nil {
				return nil, 0, err
			}
			files = append(files, *file)
		}
		if err := writer.WriteListing(files); err != nil {
			return nil, 0, err
		}
		state := provider.State{
			Provider:  name,
			Version:   1,
			Processor: fmt.Sprintf("%s: %d advisories", processor, len(records)),
			Schema:    provider.Schema{Version: "1.0.0", URL: schema},
			Timestamp: time.Now().UTC(),
			Listing:   &provider.File{Path: "results/listing.xxh64", Algorithm: "xxh64"},
			Store:     "flat-file",
		}
		if err := writer.WriteState(state); err != nil {
			return nil, 0, err
		}
		read, err := provider.ReadState(filepath.Join(work, name, "metadata.json"))
		if err != nil {
			return nil, 0, err
		}
		states = append(states, *read)
		count += len(records)
	}
	if count == 0 {
		return nil, 0, fmt.Errorf("no advisory records (*.json) under %s, in github/ or debian/", strings.Join(advisories, ", "))
	}
	return states, count, nil
}

// distribute moves the archive and latest.json CreateArchive wrote into dist, and returns the archive's path.
func distribute(build, dist string) (string, error) {
	archives, err := filepath.Glob(filepath.Join(build, "vulnerability-db_*.tar.gz"))
	if err != nil || len(archives) != 1 {
		return "", errors.Join(err, fmt.Errorf("expected one archive in %s, found %d", build, len(archives)))
	}
	if err := os.MkdirAll(dist, 0o755); err != nil {
		return "", err
	}
	archive := filepath.Join(dist, filepath.Base(archives[0]))
	for from, to := range map[string]string{
		archives[0]:                         archive,
		filepath.Join(build, "latest.json"): filepath.Join(dist, "latest.json"),
	} {
		if err := os.Rename(from, to); err != nil {
			return "", err
		}
	}
	return archive, nil
}

// shellQuote quotes s for a shell only when it needs it, so that plain paths also suit
// GitHub's $GITHUB_ENV, which takes values as they are.
func shellQuote(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
