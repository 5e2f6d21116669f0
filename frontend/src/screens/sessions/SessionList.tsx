// Placeholder: built by its own task.
export function SessionList() {
  return <main className="p-6">SessionList</main>;
}
