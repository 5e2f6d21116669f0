// Placeholder: built by its own task.
export function Workspace() {
  return <main className="p-6">Workspace</main>;
}
