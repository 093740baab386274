//! The seed pipeline of `running-jobs-with-flux.md` (pre-deploy Job -> Deployment + Service ->
//! post-deploy Job, three Kustomizations chained with dependsOn, `wait: true`, `force: true`), with
//! knobs for the failure scenarios. Pod outcomes are chosen by the kwok stage labels of
//! `tests/e2e/kwok-stages.yaml`.

#![allow(dead_code)] // shared by the test suite and the example; each uses a part

use crate::harness::{ControlPlane, Result};

#[derive(Clone, Debug)]
pub(crate) struct Pipeline {
    pub namespace: String,
    /// Image tag of the app and of both Jobs (the pattern relies on them matching).
    pub tag: String,
    /// `metadata.name` of the migration Job (teams that keep one per release name it so).
    pub migration_name: String,
    /// `kustomize.toolkit.fluxcd.io/prune: disabled` on the migration Job: kept when a later
    /// revision no longer has it.
    pub migration_prune_disabled: bool,
    /// Extra pod-template labels of the migration Job (kwok stage switches).
    pub migration_labels: Vec<(String, String)>,
    /// CPU request of the migration container, e.g. "64" (more than the fake node has).
    pub migration_cpu: Option<String>,
    /// `serviceAccountName` of the migration's pods (default: the namespace's default).
    pub migration_service_account: Option<String>,
    /// Node pool (label `fluxjobs.test/pool`) the migration must run in.
    pub migration_pool: Option<String>,
    /// A second regular container beside the migration (a proxy that is no native sidecar).
    pub migration_sidecar: bool,
    /// `activeDeadlineSeconds` of the migration's pods (the kubelet's deadline, not the Job's).
    pub migration_pod_deadline: Option<u32>,
    /// `spec.force` of the Job stages.
    pub force: bool,
    /// `spec.suspend` of the pre-deploy stage.
    pub pre_deploy_suspended: bool,
    /// An extra `dependsOn` entry of the deploy stage (e.g. a Kustomization that does not exist).
    pub extra_dependency: Option<String>,
    /// `readyExpr` of the deploy stage's dependency on the pre-deploy stage.
    pub deploy_ready_expr: Option<String>,
    /// `spec.timeout` of every stage.
    pub timeout: String,
    /// Extra pod-template labels of the app's Deployment (kwok stage switches).
    pub app_labels: Vec<(String, String)>,
    /// `spec.progressDeadlineSeconds` of the app's Deployment (Kubernetes' default: 600).
    pub app_progress_deadline: Option<u32>,
    /// `spec.targetNamespace` when the workloads live apart from the Kustomizations (default: the same).
    pub target_namespace: Option<String>,
}

impl Pipeline {
    pub(crate) fn seed(namespace: &str) -> Pipeline {
        Pipeline {
            namespace: namespace.into(),
            tag: "1.0.0".into(),
            migration_name: "db-migration".into(),
            migration_prune_disabled: false,
            migration_labels: vec![],
            migration_cpu: None,
            migration_service_account: None,
            migration_pool: None,
            migration_sidecar: false,
            migration_pod_deadline: None,
            force: true,
            pre_deploy_suspended: false,
            extra_dependency: None,
            deploy_ready_expr: None,
            timeout: "2m".into(),
            app_labels: vec![],
            app_progress_deadline: None,
            target_namespace: None,
        }
    }

    pub(crate) fn image(&self) -> String {
        format!("registry.example.invalid/shop/app:{}", self.tag)
    }

    fn job(
        &self,
        name: &str,
        container: &str,
        labels: &[(String, String)],
        cpu: Option<&str>,
        pool: Option<&str>,
        service_account: Option<&str>,
    ) -> String {
        let account = service_account.map(|a| format!("      serviceAccountName: {a}\n")).unwrap_or_default();
        let labels: String = labels.iter().map(|(k, v)| format!("        {k}: \"{v}\"\n")).collect();
        // Runs only on nodes of the pool, the flaky node included (it is tainted for everyone else).
        let placement = pool
            .map(|p| {
                format!(
                    "      nodeSelector:\n        fluxjobs.test/pool: {p}\n      tolerations:\n      - key: fluxjobs.test/flaky\n        operator: Exists\n        effect: NoSchedule\n"
                )
            })
            .unwrap_or_default();
        let resources = cpu
            .map(|c| format!("        resources:\n          requests:\n            cpu: \"{c}\"\n"))
            .unwrap_or_default();
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n  backoffLimit: 0\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: {name}\n{labels}    spec:\n{placement}{account}      restartPolicy: Never\n      containers:\n      - name: {container}\n        image: {image}\n        command: [sh, -c, \"echo running {name}\"]\n{resources}",
            image = self.image()
        )
    }

    /// The files of the app repository, as kustomize-controller will see them.
    pub(crate) fn files(&self) -> Vec<(String, String)> {
        let migration = self.job(
            &self.migration_name,
            "migration",
            &self.migration_labels,
            self.migration_cpu.as_deref(),
            self.migration_pool.as_deref(),
            self.migration_service_account.as_deref(),
        );
        let migration = match self.migration_prune_disabled {
            true => migration.replacen(
                "metadata:\n",
                "metadata:\n  annotations:\n    kustomize.toolkit.fluxcd.io/prune: disabled\n",
                1,
            ),
            false => migration,
        };
        let migration = match self.migration_pod_deadline {
            Some(seconds) => migration.replacen(
                "      restartPolicy: Never\n",
                &format!("      activeDeadlineSeconds: {seconds}\n      restartPolicy: Never\n"),
                1,
            ),
            None => migration,
        };
        let migration = match self.migration_sidecar {
            true => format!(
                "{migration}      - name: cloud-sql-proxy\n        image: gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.0\n"
            ),
            false => migration,
        };
        let cache = self.job("cache-refresh", "cache", &[], None, None, None);
        let app_labels: String = self.app_labels.iter().map(|(k, v)| format!("        {k}: \"{v}\"\n")).collect();
        let deadline =
            self.app_progress_deadline.map(|s| format!("  progressDeadlineSeconds: {s}\n")).unwrap_or_default();
        let deployment = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 1\n{deadline}  selector:\n    matchLabels:\n      app.kubernetes.io/name: app\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: app\n{app_labels}    spec:\n      containers:\n      - name: app\n        image: {}\n        ports:\n        - containerPort: 8080\n",
            self.image()
        );
        let service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\nspec:\n  selector:\n    app.kubernetes.io/name: app\n  ports:\n  - port: 80\n    targetPort: 8080\n".to_string();
        vec![
            ("pre-deploy/migration.job.yaml".into(), migration),
            ("deploy/deployment.yaml".into(), deployment),
            ("deploy/service.yaml".into(), service),
            ("post-deploy/cache.job.yaml".into(), cache),
        ]
    }

    fn kustomization(
        &self,
        name: &str,
        path: &str,
        depends_on: &[(&str, Option<&str>)],
        force: bool,
        suspend: bool,
    ) -> String {
        let deps: String = depends_on
            .iter()
            .map(|(d, expr)| match expr {
                Some(expr) => format!("  - name: {d}\n    readyExpr: {expr:?}\n"),
                None => format!("  - name: {d}\n"),
            })
            .collect();
        let deps = if deps.is_empty() { String::new() } else { format!("  dependsOn:\n{deps}") };
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{deps}  sourceRef:\n    kind: GitRepository\n    name: app\n  path: {path}\n  targetNamespace: {target}\n  interval: 60m\n  retryInterval: 20s\n  timeout: {timeout}\n  prune: true\n  wait: true\n  force: {force}\n  suspend: {suspend}\n",
            ns = self.namespace,
            target = self.target_namespace.as_deref().unwrap_or(&self.namespace),
            timeout = self.timeout,
        )
    }

    /// The three Kustomizations.
    pub(crate) fn kustomizations(&self) -> String {
        let mut deploy_deps = vec![("app-pre-deploy", self.deploy_ready_expr.as_deref())];
        if let Some(extra) = &self.extra_dependency {
            deploy_deps.push((extra, None));
        }
        [
            self.kustomization("app-pre-deploy", "./pre-deploy", &[], self.force, self.pre_deploy_suspended),
            self.kustomization("app-deploy", "./deploy", &deploy_deps, false, false),
            self.kustomization("app-post-deploy", "./post-deploy", &[("app-deploy", None)], self.force, false),
        ]
        .join("---\n")
    }

    /// Publishes the repository as a new revision of GitRepository `app`; returns the revision.
    pub(crate) fn publish(&self, plane: &ControlPlane) -> Result<String> {
        let files = self.files();
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        plane.publish(&self.namespace, "app", &files)
    }

    /// Creates the namespace, publishes the source and applies the Kustomizations.
    pub(crate) fn install(&self, plane: &ControlPlane) -> Result<String> {
        for ns in std::iter::once(&self.namespace).chain(&self.target_namespace) {
            plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
        }
        let revision = self.publish(plane)?;
        plane.apply(&self.kustomizations())?;
        Ok(revision)
    }

    /// The same pipeline as one Flux Operator ResourceSet with three steps (pre-deploy, deploy,
    /// post-deploy), the image tag an input; `recreate_on_failure` annotates the migration Job
    /// `fluxcd.controlplane.io/recreateOnFailure: enabled`; `depends_on` names Kustomizations of
    /// this namespace it waits for (with `ready: true`).
    pub(crate) fn resource_set(&self, name: &str, recreate_on_failure: bool, depends_on: &[&str]) -> String {
        let files = self.files();
        let ns = &self.namespace;
        // Each manifest as an item of a step's `resources`, in this namespace (flux-operator does not
        // default it), its image tag from the ResourceSet's inputs.
        let item = |path: &str, annotate: bool| {
            let text = &files.iter().find(|(p, _)| p == path).expect("fixture file").1;
            let text = text.replacen("metadata:\n", &format!("metadata:\n  namespace: {ns}\n"), 1);
            let text = if annotate {
                text.replacen(
                    "metadata:\n",
                    "metadata:\n  annotations:\n    fluxcd.controlplane.io/recreateOnFailure: enabled\n",
                    1,
                )
            } else {
                text
            };
            let text = text.replace(&format!(":{}", self.tag), ":<< inputs.tag >>");
            let mut lines = text.lines();
            let first = format!("    - {}\n", lines.next().unwrap_or_default());
            first + &lines.map(|l| format!("      {l}\n")).collect::<String>()
        };
        let deps: String = depends_on
            .iter()
            .map(|d| {
                format!(
                    "  - apiVersion: kustomize.toolkit.fluxcd.io/v1\n    kind: Kustomization\n    name: {d}\n    namespace: {ns}\n    ready: true\n"
                )
            })
            .collect();
        let deps = if deps.is_empty() { String::new() } else { format!("  dependsOn:\n{deps}") };
        format!(
            "apiVersion: fluxcd.controlplane.io/v1\nkind: ResourceSet\nmetadata:\n  name: {name}\n  namespace: {ns}\n  annotations:\n    fluxcd.controlplane.io/reconcileTimeout: {timeout}\nspec:\n{deps}  inputs:\n  - tag: \"{tag}\"\n  steps:\n  - name: pre-deploy\n    timeout: {timeout}\n    resources:\n{pre}  - name: deploy\n    resources:\n{deploy}{service}  - name: post-deploy\n    resources:\n{post}",
            timeout = self.timeout,
            tag = self.tag,
            pre = item("pre-deploy/migration.job.yaml", recreate_on_failure),
            deploy = item("deploy/deployment.yaml", false),
            service = item("deploy/service.yaml", false),
            post = item("post-deploy/cache.job.yaml", false),
        )
    }
}

impl Pipeline {
    /// The pipeline as one ResourceSet (as [`Pipeline::resource_set`]) taking its inputs from the
    /// input provider `provider`, its Jobs annotated `fluxcd.controlplane.io/force: enabled` so that a
    /// new tag recreates them (flux-operator api/v1 common_types.go `ForceAnnotation`).
    pub(crate) fn resource_set_from_provider(&self, name: &str, provider: &str) -> String {
        let inline = format!("  inputs:\n  - tag: \"{}\"\n", self.tag);
        let from = format!("  inputsFrom:\n  - kind: ResourceSetInputProvider\n    name: {provider}\n");
        self.resource_set(name, false, &[]).replacen(&inline, &from, 1).replace(
            "kind: Job\n      metadata:\n",
            "kind: Job\n      metadata:\n        annotations:\n          fluxcd.controlplane.io/force: enabled\n",
        )
    }

    /// A Static input provider exporting this pipeline's tag and the commit `sha` it was built from.
    pub(crate) fn static_provider(&self, name: &str, sha: &str) -> String {
        format!(
            "apiVersion: fluxcd.controlplane.io/v1\nkind: ResourceSetInputProvider\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  type: Static\n  defaultValues:\n    tag: \"{tag}\"\n    sha: \"{sha}\"\n",
            ns = self.namespace,
            tag = self.tag,
        )
    }
}

/// A fake node kwok runs, in node pool `pool` (label `fluxjobs.test/pool`). A `flaky` one is
/// tainted, so only that pool's Jobs (which tolerate it) land there, and its Job pods exit with
/// code 3 when its name is one the kwok stage `pod-on-flaky-node-fails` names.
pub(crate) fn kwok_node(name: &str, pool: &str, flaky: bool) -> String {
    let taint = if flaky {
        "spec:\n  taints:\n  - key: fluxjobs.test/flaky\n    value: \"true\"\n    effect: NoSchedule\n"
    } else {
        ""
    };
    format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  annotations:\n    kwok.x-k8s.io/node: fake\n  labels:\n    kubernetes.io/hostname: {name}\n    kubernetes.io/os: linux\n    fluxjobs.test/pool: {pool}\n{taint}status:\n  allocatable: {{cpu: \"32\", memory: 256Gi, pods: \"110\"}}\n  capacity: {{cpu: \"32\", memory: 256Gi, pods: \"110\"}}\n"
    )
}
