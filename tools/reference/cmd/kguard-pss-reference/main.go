// Command kguard-pss-reference evaluates Kubernetes objects with the upstream Pod Security library.
//
// It is the reference for kguard's differential test of its Pod Security policies (tests/policies/
// test_pss_upstream.py). Usage: kguard-pss-reference [FILE...] (standard input when no file is given).
//
// Every YAML/JSON document is split like kubectl splits a stream (k8s.io/apimachinery/pkg/util/yaml), decoded into
// its typed object by a scheme holding k8s.io/api core/v1, apps/v1 and batch/v1 (no defaulting, as the objects are
// files, not what an API server stored), and its pod spec taken by upstream's admission.DefaultPodSpecExtractor.
// For each object and each level (baseline, restricted; policy version latest) one JSON line is printed:
//
//	{"apiVersion","kind","namespace","name","level","allowed","failed_checks","details"}
//
// allowed is the verdict of the real evaluator (policy.NewEvaluator(policy.DefaultChecks()).EvaluatePod).
// failed_checks (sorted check IDs) comes from running each check of DefaultChecks on its own, at its newest
// version, with the selection the evaluator makes: baseline checks at both levels, restricted checks at
// restricted, minus the baseline checks that an applicable restricted check overrides (OverrideCheckIDs).
// details maps each failed check to upstream's "reason (detail)" text. The tool asserts allowed == (no failed
// check) and exits 1 if that ever differs, which cross-checks this selection against the evaluator itself.
//
// With --list-checks it prints instead one line per check of DefaultChecks and exits:
//
//	{"id","level","overrides"}  (overrides: the baseline check IDs its newest version replaces at restricted)
//
// An object without a pod spec prints {"apiVersion","kind","namespace","name","skipped": reason} once.
// A document that cannot be read or decoded is reported on standard error as "FILE: document N: message" and
// the exit code is 1; the other documents are still evaluated.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/pod-security-admission/admission"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

var levels = []api.Level{api.LevelBaseline, api.LevelRestricted}

type objectID struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
}

type verdictLine struct {
	objectID
	Level        api.Level         `json:"level"`
	Allowed      bool              `json:"allowed"`
	FailedChecks []string          `json:"failed_checks"`
	Details      map[string]string `json:"details"`
}

type skippedLine struct {
	objectID
	Skipped string `json:"skipped"`
}

// reference holds the upstream evaluator and, per level, the checks it runs at the latest version.
type reference struct {
	evaluator policy.Evaluator
	checks    map[api.Level][]policy.Check
	decoder   runtime.Decoder
	extractor admission.PodSpecExtractor
}

func newReference() (*reference, error) {
	checks := policy.DefaultChecks()
	evaluator, err := policy.NewEvaluator(checks, nil)
	if err != nil {
		return nil, fmt.Errorf("upstream evaluator: %w", err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return &reference{
		evaluator: evaluator,
		checks:    checksByLevel(checks),
		decoder:   serializer.NewCodecFactory(scheme).UniversalDeserializer(),
		extractor: admission.DefaultPodSpecExtractor{},
	}, nil
}

// checksByLevel mirrors the evaluator's selection at the newest policy version: every baseline check at both
// levels, restricted checks at restricted only, and at restricted no baseline check that a restricted check
// overrides.
func checksByLevel(checks []policy.Check) map[api.Level][]policy.Check {
	overridden := map[policy.CheckID]bool{}
	for _, check := range checks {
		if check.Level == api.LevelRestricted {
			for _, id := range newest(check).OverrideCheckIDs {
				overridden[id] = true
			}
		}
	}
	byLevel := map[api.Level][]policy.Check{}
	for _, check := range checks {
		if check.Level == api.LevelBaseline {
			byLevel[api.LevelBaseline] = append(byLevel[api.LevelBaseline], check)
			if !overridden[check.ID] {
				byLevel[api.LevelRestricted] = append(byLevel[api.LevelRestricted], check)
			}
		} else {
			byLevel[api.LevelRestricted] = append(byLevel[api.LevelRestricted], check)
		}
	}
	return byLevel
}

func newest(check policy.Check) policy.VersionedCheck {
	return check.Versions[len(check.Versions)-1]
}

// evaluate returns the lines for one decoded object.
func (r *reference) evaluate(obj runtime.Object, meta metav1.Object, apiVersion, kind string) ([]any, error) {
	base := objectID{APIVersion: apiVersion, Kind: kind, Namespace: meta.GetNamespace(), Name: meta.GetName()}
	podMeta, podSpec, err := r.extractor.ExtractPodSpec(obj)
	if err != nil {
		return []any{skippedLine{base, err.Error()}}, nil
	}
	if podSpec == nil {
		return []any{skippedLine{base, "no pod template"}}, nil
	}
	var lines []any
	for _, level := range levels {
		results := r.evaluator.EvaluatePod(api.LevelVersion{Level: level, Version: api.LatestVersion()}, podMeta, podSpec)
		allowed := policy.AggregateCheckResults(results).Allowed
		line := verdictLine{objectID: base, Level: level, Allowed: allowed, FailedChecks: []string{},
			Details: map[string]string{}}
		for _, check := range r.checks[level] {
			result := newest(check).CheckPod(podMeta, podSpec)
			if result.Allowed {
				continue
			}
			line.FailedChecks = append(line.FailedChecks, string(check.ID))
			text := result.ForbiddenReason
			if result.ForbiddenDetail != "" {
				text += " (" + result.ForbiddenDetail + ")"
			}
			line.Details[string(check.ID)] = text
		}
		slices.Sort(line.FailedChecks)
		if allowed != (len(line.FailedChecks) == 0) {
			return nil, fmt.Errorf("%s %s/%s at %s: the evaluator says allowed=%t but the checks run one by one "+
				"failed %v: the per-check selection no longer matches upstream's evaluator", kind, base.Namespace,
				base.Name, level, allowed, line.FailedChecks)
		}
		lines = append(lines, line)
	}
	return lines, nil
}

// decode turns one document into its typed object; ok is false for an empty document.
func (r *reference) decode(document []byte) (obj runtime.Object, apiVersion, kind string, ok bool, err error) {
	data, err := yaml.YAMLToJSON(document)
	if err != nil {
		return nil, "", "", false, err
	}
	if strings.TrimSpace(string(data)) == "null" {
		return nil, "", "", false, nil
	}
	obj, gvk, err := r.decoder.Decode(data, nil, nil)
	if err != nil {
		return nil, "", "", false, err
	}
	return obj, gvk.GroupVersion().String(), gvk.Kind, true, nil
}

func (r *reference) run(name string, input io.Reader, encoder *json.Encoder) (failed bool) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(input))
	for index := 0; ; index++ {
		document, err := reader.Read()
		if err == io.EOF {
			return failed
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: document %d: %v\n", name, index, err)
			return true
		}
		obj, apiVersion, kind, ok, err := r.decode(document)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: document %d: %v\n", name, index, err)
			failed = true
			continue
		}
		if !ok {
			continue
		}
		meta, err := metaOf(obj)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: document %d: %v\n", name, index, err)
			failed = true
			continue
		}
		lines, err := r.evaluate(obj, meta, apiVersion, kind)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kguard-pss-reference: %s: document %d: %v\n", name, index, err)
			os.Exit(1)
		}
		for _, line := range lines {
			if err := encoder.Encode(line); err != nil {
				fmt.Fprintln(os.Stderr, "kguard-pss-reference: writing output:", err)
				os.Exit(1)
			}
		}
	}
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	accessor, ok := obj.(metav1.ObjectMetaAccessor)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", obj)
	}
	return accessor.GetObjectMeta(), nil
}

type checkLine struct {
	ID        policy.CheckID   `json:"id"`
	Level     api.Level        `json:"level"`
	Overrides []policy.CheckID `json:"overrides"`
}

func listChecks(encoder *json.Encoder) error {
	for _, check := range policy.DefaultChecks() {
		overrides := append([]policy.CheckID{}, newest(check).OverrideCheckIDs...)
		if err := encoder.Encode(checkLine{ID: check.ID, Level: check.Level, Overrides: overrides}); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	ref, err := newReference()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kguard-pss-reference:", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	encoder := json.NewEncoder(out)
	encoder.SetEscapeHTML(false)
	if len(os.Args) == 2 && os.Args[1] == "--list-checks" {
		if err := listChecks(encoder); err != nil {
			fmt.Fprintln(os.Stderr, "kguard-pss-reference: writing output:", err)
			os.Exit(1)
		}
		return
	}
	failed := false
	if len(os.Args) == 1 {
		failed = ref.run("<stdin>", os.Stdin, encoder)
	}
	for _, path := range os.Args[1:] {
		file, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kguard-pss-reference:", err)
			failed = true
			continue
		}
		failed = ref.run(path, file, encoder) || failed
		file.Close()
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "kguard-pss-reference: writing output:", err)
		os.Exit(1)
	}
	if failed {
		os.Exit(1)
	}
}
