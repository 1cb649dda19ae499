// Command kguard-yaml-reference splits a YAML stream the way kubectl does and prints each document as JSON.
//
// It is the reference for kguard's differential test of its YAML loader. Contract (keep it stable):
//
//   - Input: one YAML stream on standard input (no arguments).
//   - Documents are split with k8s.io/apimachinery/pkg/util/yaml.NewYAMLReader, the reader behind kubectl's
//     YAML-or-JSON decoder: a line starting with "---" ends a document; only spaces or a "#" comment may follow
//     the "---". Documents with no bytes between two separators are not reported; a document holding only
//     comments or blank lines is reported (it converts to null).
//   - For each document, in order, one line of JSON on standard output:
//     {"json": <value>}  the document converted by sigs.k8s.io/yaml.YAMLToJSON, embedded as a JSON value
//     (not a string); an empty document gives {"json": null};
//     {"error": "<message>"}  the document could not be converted; later documents are still printed.
//   - A stream-level error (for example "--- text" after a separator, or an unreadable input) prints one
//     {"error": "<message>"} line and stops, as kubectl stops reading the stream there.
//   - Exit code 0 whenever the lines were written (document errors included); 2 on a usage error.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

type documentLine struct {
	JSON  json.RawMessage `json:"json,omitempty"`
	Error *string         `json:"error,omitempty"`
}

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: kguard-yaml-reference < stream.yaml")
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	encoder := json.NewEncoder(out)
	encoder.SetEscapeHTML(false)
	reader := utilyaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	for {
		document, err := reader.Read()
		if err == io.EOF {
			return
		}
		if err != nil {
			writeLine(encoder, errorLine(err))
			return
		}
		converted, err := yaml.YAMLToJSON(document)
		if err != nil {
			writeLine(encoder, errorLine(err))
			continue
		}
		writeLine(encoder, documentLine{JSON: converted})
	}
}

func errorLine(err error) documentLine {
	message := err.Error()
	return documentLine{Error: &message}
}

func writeLine(encoder *json.Encoder, line documentLine) {
	if line.Error == nil && line.JSON == nil {
		line.JSON = json.RawMessage("null")
	}
	if err := encoder.Encode(line); err != nil {
		fmt.Fprintln(os.Stderr, "kguard-yaml-reference: writing output:", err)
		os.Exit(1)
	}
}
