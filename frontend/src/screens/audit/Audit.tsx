// Placeholder: built by its own task.
export function Audit() {
  return <main className="p-6">Audit</main>;
}
